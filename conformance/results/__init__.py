"""What a run produces: result records and their JSON document, merging, known divergences, the gate, JUnit XML."""
