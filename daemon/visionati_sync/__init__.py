"""visionati-sync: tag folders of photos with the Visionati API and write sidecars."""

__version__ = "0.1.0"
