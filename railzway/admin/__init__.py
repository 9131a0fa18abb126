"""The region's provisioning admin: the session settings a tenant database cannot steer, and the one way our
own code opens an admin session (on the server, or inside a tenant's database)."""
