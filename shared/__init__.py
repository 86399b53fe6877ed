"""The package every Instagram Monitor service shares: the contract between them."""
