"""Tools for trying the daemon and testing it, shipped with it but never imported by it: the
API emulator (`visionati-sync emulator`) and synthetic sample images."""
