"""Models: fitting, storing and scoring (``trained``), the exact stump scorer (``additive``), the set
of trained models a consumer scores with (``modelset``) and their metrics (``metrics``)."""
