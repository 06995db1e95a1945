"""A module shipped in a layer, to check the layer is attached locally."""

GREETING = "hello from the layer"
