"""Base for response models: unknown fields are kept (the gateway may add fields at any time)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OpenModel(BaseModel):
    """A response model that tolerates and keeps unknown fields."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
