"""The deployable services of Instagram Monitor; none imports another."""
