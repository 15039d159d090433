"""The emulated HubSpot API ("HubSpot sandbox"): `app.create_app` builds it, `main.run` serves it."""
