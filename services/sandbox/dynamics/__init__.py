"""Emulated Dynamics 365 / Dataverse Web API v9.2; `app.create_app` builds the server."""
