"""compile stage of the cycleflow data flow."""
