"""cifar-tui: train, inspect and compare CIFAR-10 classifiers from the terminal."""

__version__ = "0.1.0"

CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
