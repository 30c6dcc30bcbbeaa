"""The reviews: where they come from and their encoded splits."""
