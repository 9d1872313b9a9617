"""The HTTP API's routes: one module and one blueprint per resource."""
