"""One module per resource provider the emulator speaks; each registers its routes on a Router."""
