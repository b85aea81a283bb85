"""Running the properties: loading adapters, the pytest plugin, worker processes and what they keep between runs."""
