"""The embedded default behind `make run`: Tansu broker, PostgreSQL, and a process supervisor.

`python -m services.devstack` runs the whole stack; `Stack` is what the end-to-end tests start.
"""
