"""expr stage of the cycleflow data flow."""
