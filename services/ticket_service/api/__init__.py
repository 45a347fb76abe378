"""The ticket service's REST API (`/api/v2`): routes, bodies, the error envelope and who
is calling."""
