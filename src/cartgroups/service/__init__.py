"""The rules of the resource, free of any web framework."""
