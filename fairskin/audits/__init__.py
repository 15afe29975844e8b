"""See the package docstring of fairskin."""
