"""finder: find near-duplicate images with perceptual hashes."""

__version__ = "0.1.0"
