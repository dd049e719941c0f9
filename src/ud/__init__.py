"""ud: uncertainty distillation — teach a language model to state calibrated confidence in words."""

__version__ = "0.1.0"
