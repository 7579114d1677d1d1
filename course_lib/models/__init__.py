"""The course's classifiers: EfficientNet-Lite0 (offline ImageNet weights), the small
CNN of the ground-truth data set, optional torchvision models, and their loading."""
