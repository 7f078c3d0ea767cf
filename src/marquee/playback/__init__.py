"""Playback: how a title plays on a network, chunk by chunk, under an adaptive-bitrate (ABR) scheme.

Network traces (:class:`Trace`, :class:`TraceSet`; Pensieve text or Sabre JSON), video ladders (:class:`Video`),
a session simulator vectorised across sessions with Pensieve's conventions (:func:`simulate`,
:class:`SessionConfig`, :class:`Sessions`) and the schemes behind one interface (:class:`Scheme`,
:class:`Observation`): rate-based (:class:`RateBased`), buffer-based (:class:`BBA`), BOLA-BASIC (:class:`BOLA`) and
robustMPC (:class:`RobustMPC`), the offline optimum (:class:`OfflineOptimal`, the ceiling: a dynamic program with the
whole trace known), Marquee's stochastic MPC (:class:`StochasticMPC`, scheme ``"marquee"``), and device classes (:class:`Device`, :data:`DEVICES`: ladder cap, quality model,
player thresholds, usual networks)::

    from marquee import playback

    traces = playback.load_traces("fcc_pensieve88")
    video = playback.load_video("envivio")
    sessions = playback.simulate(traces, video, playback.BBA(reservoir_s=5.0, cushion_s=10.0))
    sessions.summary()["qoe_per_chunk"]

This subpackage imports nothing from ranking, serving, evaluation or the CLI.
"""

from marquee.playback.bba import BBA, BBAConfig
from marquee.playback.bola import BOLA, BOLAConfig
from marquee.playback.device import DEVICES, QUALITY_MODELS, Device, device, perceived_quality
from marquee.playback.mpc import RobustMPC, RobustMPCConfig
from marquee.playback.optimal import OfflineOptimal, OfflineOptimalConfig
from marquee.playback.predict import HarmonicMean
from marquee.playback.rate import RateBased, RateBasedConfig
from marquee.playback.scheme import SCHEMES, Observation, Scheme
from marquee.playback.session import SessionConfig, Sessions, simulate
from marquee.playback.shipped import SHIPPED_TRACES, SHIPPED_VIDEOS, load_traces, load_video
from marquee.playback.stochastic import StochasticMPC, StochasticMPCConfig
from marquee.playback.traces import Trace, TraceSet, parse_pensieve, parse_sabre, read_traces, traces_from_arrays
from marquee.playback.video import Video, read_csv_ladder, read_json_ladder, read_video

__all__ = [
    "BBA",
    "BOLA",
    "DEVICES",
    "QUALITY_MODELS",
    "SCHEMES",
    "SHIPPED_TRACES",
    "SHIPPED_VIDEOS",
    "BBAConfig",
    "BOLAConfig",
    "Device",
    "HarmonicMean",
    "Observation",
    "OfflineOptimal",
    "OfflineOptimalConfig",
    "RateBased",
    "RateBasedConfig",
    "RobustMPC",
    "RobustMPCConfig",
    "Scheme",
    "SessionConfig",
    "Sessions",
    "StochasticMPC",
    "StochasticMPCConfig",
    "Trace",
    "TraceSet",
    "Video",
    "device",
    "load_traces",
    "load_video",
    "parse_pensieve",
    "parse_sabre",
    "perceived_quality",
    "read_csv_ladder",
    "read_json_ladder",
    "read_traces",
    "read_video",
    "simulate",
    "traces_from_arrays",
]
