"""KYC providers behind one interface; every answer is mapped to the flows outcome vocabulary."""

from kyc.accuauth import AccuAuthProvider
from kyc.base import KycProvider, OtpRequestAnswer, OtpVerifyAnswer
from kyc.fallback import ProviderChain
from kyc.sandbox import SandboxProvider
from kyc.simulator import SIMULATOR_NUMBERS, SimulatedSms, SimulatorProvider

__all__ = [
    "SIMULATOR_NUMBERS",
    "AccuAuthProvider",
    "KycProvider",
    "OtpRequestAnswer",
    "OtpVerifyAnswer",
    "ProviderChain",
    "SandboxProvider",
    "SimulatedSms",
    "SimulatorProvider",
]
