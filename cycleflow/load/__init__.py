"""load stage of the cycleflow data flow."""
