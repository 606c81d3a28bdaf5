import pytest

from iclm.config import AdapterConfig, ICLMConfig, LossWeights, RouterConfig


def test_defaults_match_the_paper():
    config = ICLMConfig()
    assert config.num_domains == 2 and config.variant == "iclm"
    assert config.router == RouterConfig(kind="vq", projection_dim=64, beta=0.25)
    assert config.adapters.r == 8 and config.adapters.alpha == 16
    assert config.adapters.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert config.loss_weights == LossWeights(lm=1.0, invariant=0.1, domain=0.1, routing=0.1, mi=0.01)
    assert config.module_names == ["invariant", "domain_0", "domain_1"]


def test_round_trip_through_config_json(tmp_path):
    config = ICLMConfig(
        num_domains=3,
        router={"kind": "kmeans", "projection_dim": 16},
        adapters=AdapterConfig(r=4, target_modules=("q_proj",)),
        loss_weights={"mi": 0.5},
        aggregation="fresh_head",
        execution="dense",
        dataset_names=["acre", "raven", "pvr"],
    )
    config.save_pretrained(tmp_path)
    loaded = ICLMConfig.from_pretrained(tmp_path)
    assert loaded.router == config.router and loaded.adapters == config.adapters
    assert loaded.loss_weights == config.loss_weights
    assert (loaded.num_domains, loaded.aggregation, loaded.execution) == (3, "fresh_head", "dense")
    assert loaded.dataset_names == ["acre", "raven", "pvr"]


def test_sub_configs_are_frozen():
    with pytest.raises(AttributeError):
        RouterConfig().beta = 1.0  # type: ignore[misc]


def test_baseline_has_one_domain():
    assert ICLMConfig(variant="baseline").module_names == ["domain_0"]
    assert ICLMConfig(variant="no_invariant", num_domains=3).module_names == [
        "domain_0",
        "domain_1",
        "domain_2",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"num_domains": 0}, "num_domains", "0"),
        ({"num_domains": 1.5}, "num_domains", "1.5"),
        ({"variant": "moe"}, "variant", "'moe'"),
        ({"aggregation": "sum"}, "aggregation", "'sum'"),
        ({"execution": "lazy"}, "execution", "'lazy'"),
        ({"backbone": ""}, "backbone", "''"),
        ({"dataset_names": "acre"}, "dataset_names", "'acre'"),
        ({"router": {"kind": "soft"}}, "router.kind", "'soft'"),
        ({"router": {"projection_dim": 0}}, "router.projection_dim", "0"),
        ({"router": {"beta": -1.0}}, "router.beta", "-1.0"),
        ({"adapters": {"r": 0}}, "adapters.r", "0"),
        ({"adapters": {"alpha": 0}}, "adapters.alpha", "0"),
        ({"adapters": {"dropout": 1.0}}, "adapters.dropout", "1.0"),
        ({"adapters": {"target_modules": []}}, "adapters.target_modules", "[]"),
        ({"adapters": {"target_modules": "q_proj"}}, "adapters.target_modules", "'q_proj'"),
        ({"loss_weights": {"mi": -0.1}}, "loss_weights.mi", "-0.1"),
        ({"loss_weights": {"lm": "1"}}, "loss_weights.lm", "'1'"),
        ({"router": "vq"}, "router", "'vq'"),
        ({"num_domains": 65}, "num_domains", "65"),
        ({"num_domains": 10**9}, "num_domains", "1000000000"),
        ({"router": {"beta": float("inf")}}, "router.beta", "inf"),
        ({"router": {"beta": float("nan")}}, "router.beta", "nan"),
        ({"router": {"projection_dim": 10**6}}, "router.projection_dim", "1000000"),
        ({"adapters": {"alpha": float("inf")}}, "adapters.alpha", "inf"),
        ({"adapters": {"r": 4096}}, "adapters.r", "4096"),
        ({"loss_weights": {"lm": float("inf")}}, "loss_weights.lm", "inf"),
        ({"loss_weights": {"mi": float("nan")}}, "loss_weights.mi", "nan"),
        ({"recompute_share": 1.5}, "recompute_share", "1.5"),
        ({"recompute_share": float("inf")}, "recompute_share", "inf"),
    ],
)
def test_invalid_value_names_field_and_value(kwargs, field, value):
    with pytest.raises(ValueError, match=f"{field}={value}".replace("[", r"\[").replace("]", r"\]")):
        ICLMConfig(**kwargs)


def test_unknown_top_level_key_is_rejected():
    with pytest.raises(ValueError, match="unknown keys.*num_experts"):
        ICLMConfig(num_experts=4)


def test_unknown_sub_config_key_is_rejected():
    with pytest.raises(ValueError, match="router has unknown keys.*temperature"):
        ICLMConfig(router={"kind": "vq", "temperature": 1.0})


def test_special_token_ids_written_by_the_trainer_round_trip(tmp_path):
    """transformers.Trainer stores the tokenizer's special ids in model.config; loading must accept them."""
    config = ICLMConfig(num_domains=2, pad_token_id=0, eos_token_id=2, bos_token_id=1)
    config.save_pretrained(tmp_path)
    loaded = ICLMConfig.from_pretrained(tmp_path)
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.bos_token_id) == (0, 2, 1)


def test_the_largest_documented_k_is_accepted():
    from iclm.config import MAX_NUM_DOMAINS

    assert ICLMConfig(num_domains=MAX_NUM_DOMAINS).num_domains == 64


@pytest.mark.parametrize(
    ("variant", "invariant", "router"),
    [("iclm", True, True), ("no_invariant", False, True), ("baseline", False, False)],
)
def test_variant_questions_are_properties(variant, invariant, router):
    config = ICLMConfig(variant=variant, num_domains=2)
    assert (config.has_invariant, config.has_router) == (invariant, router)
    assert ("invariant" in config.module_names) == invariant
