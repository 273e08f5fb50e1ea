"""The notebook layer: session settings and ledger (`attach`, `connect`), magics, display and widgets."""
