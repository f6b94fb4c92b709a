"""report stage of the cycleflow data flow."""
