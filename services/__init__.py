"""datasync's deployable services and the code they share."""
