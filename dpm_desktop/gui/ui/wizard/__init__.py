"""The training wizard (issue 6): data, model, training, done."""

from .wizard import TrainWizard

__all__ = ["TrainWizard"]
