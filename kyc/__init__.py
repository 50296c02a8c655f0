"""KYC providers behind one interface; every answer is mapped to the flows outcome vocabulary."""

from kyc.base import KycProvider, OtpRequestAnswer, OtpVerifyAnswer
from kyc.simulator import SIMULATOR_NUMBERS, SimulatedSms, SimulatorProvider

__all__ = [
    "SIMULATOR_NUMBERS",
    "KycProvider",
    "OtpRequestAnswer",
    "OtpVerifyAnswer",
    "SimulatedSms",
    "SimulatorProvider",
]
