"""claimlens: forensics and workflow for after-sales refund claims."""

__version__ = "0.1.0"
