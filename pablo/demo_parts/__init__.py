"""Each pipeline's part of `pablo demo` (see pablo/demo.py DemoPart)."""
