"""gbench: evaluation and benchmarking for deep generative models in vision."""
__version__ = "0.1.0"
