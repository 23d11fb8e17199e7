"""The paper's experiments: studies built from the apps and configs.

Nothing here is imported by the library (`spatialmix_keras`) or the configs.
"""
