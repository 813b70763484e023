"""Models, data and the training task of pesweep (PyTorch Lightning)."""
