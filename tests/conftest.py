"""Test-wide set-up: the peer implementations and independent signals in ../shared/peers."""
import sys
from pathlib import Path

SHARED_PEERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "peers"
sys.path.insert(0, str(SHARED_PEERS))
