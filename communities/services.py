"""Community invites: store customer groups, join ways, invite posters, who joined through whom."""
