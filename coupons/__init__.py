"""Coupons: templates, packs, issued coupons and redemptions (built out by the coupon-pack issue)."""
