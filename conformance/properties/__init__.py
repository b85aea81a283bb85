"""The conformance properties: pytest tests parametrized by the plugin over adapter x op x dtype."""
