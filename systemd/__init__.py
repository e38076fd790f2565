"""The systemd units, shipped inside the package as visionati_sync.units, so that
`visionati-sync install-service` can write them from an installed wheel."""
