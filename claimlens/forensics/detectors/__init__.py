"""One module per detector. Each module defines a Detector subclass decorated with @register."""
