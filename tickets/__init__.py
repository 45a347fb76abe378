"""The `tickets` command: the composition root that picks services and runs them. The only
package that imports the services; nothing imports it."""
