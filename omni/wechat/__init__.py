"""WeChat (微信) integration for customers: the brand's Official Account and its web authorization."""
