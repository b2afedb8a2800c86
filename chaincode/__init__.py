"""System contracts deployed in genesis (Vyper sources, build, fixed addresses, ABIs)."""
