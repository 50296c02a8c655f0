"""Tests of the KYC provider clients."""
