import pytest
from agent_testutil import ENV

from dialog_gym.agents import Agent, list_agents, make_agent, register_agent
from dialog_gym.error import ConfigError, Error, RegistryError
from dialog_gym.testing import AgentCheckError, check_agent


def test_builtins_are_listed():
    names = list_agents()
    for name in ["random", "expert", "retrieval", "random-candidate", "sb3-ppo", "sb3-a2c",
                 "sb3-dqn", "sb3-maskable-ppo", "echo", "repeat", "keyword-stuffing"]:
        assert name in names


def test_every_builtin_imports():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a broken built-in would warn
        checked = list_agents(check=True)
    assert "sb3-ppo" in checked and "retrieval" in checked


def test_base_agent_optional_methods_say_what_is_missing():
    class Minimal(Agent):
        def act(self, observation):
            return "hi"

    a = Minimal()
    assert a.act_batch([{}, {}]) == ["hi", "hi"]
    assert not a.trainable
    with pytest.raises(NotImplementedError, match="not trainable.*sb3-ppo"):
        a.learn(10)
    with pytest.raises(NotImplementedError, match="nothing to save"):
        a.save("x")
    with pytest.raises(NotImplementedError, match="nothing to load"):
        a.load("x")
    a.close()
    a.close()


def test_env_id_only_reaches_factories_that_declare_it(clean_registry):
    class NoEnvId(Agent):
        def __init__(self, word="ok"):
            self.word = word

        def act(self, observation):
            return self.word

    clean_registry.register("test-no-env-id", NoEnvId)
    assert make_agent("test-no-env-id", env_id=ENV, word="yo").word == "yo"
    assert make_agent("expert", env_id=ENV).env_id == ENV


def test_a_typo_in_agent_kwargs_is_a_config_error_naming_the_signature():
    with pytest.raises(ConfigError, match=r"seeed.*Its signature is RandomAgent\(.*seed"):
        make_agent("random", seeed=3)


def test_unknown_agent_suggests_a_close_name():
    with pytest.raises(RegistryError, match="Did you mean 'retrieval'"):
        make_agent("retreival")


def test_register_agent_decorator_and_factory_result_is_checked(clean_registry):
    @register_agent("test-decorated")
    class Decorated(Agent):
        def act(self, observation):
            return ""

    assert isinstance(make_agent("test-decorated"), Decorated)

    clean_registry.register("test-not-an-agent", lambda: object())
    with pytest.raises(TypeError, match="no act\\(\\) method"):
        make_agent("test-not-an-agent")


@pytest.mark.parametrize("name", ["random", "expert", "echo", "repeat", "keyword-stuffing"])
def test_scripted_agents_pass_check_agent(name):
    report = check_agent(make_agent(name, env_id=ENV), ENV, episodes=2)
    assert report["episodes"] == 2
    if name == "expert":
        assert report["success_rate"] == 1.0


def test_check_agent_catches_contract_breaches():
    class NotAString(Agent):
        def act(self, observation):
            return 42

    class Mutates(Agent):
        def act(self, observation):
            observation["history"] = ""
            return "hello"

    class Crashes(Agent):
        def act(self, observation):
            raise KeyError("slot")

    class BadBatch(Agent):
        def act(self, observation):
            return "x"

        def act_batch(self, observations):
            return "x"

    with pytest.raises(AgentCheckError, match="returned int"):
        check_agent(NotAString(), ENV, episodes=1)
    with pytest.raises(AgentCheckError, match="changed the observation"):
        check_agent(Mutates(), ENV, episodes=1)
    with pytest.raises(AgentCheckError, match="act raised KeyError"):
        check_agent(Crashes(), ENV, episodes=1)
    with pytest.raises(AgentCheckError, match="act_batch"):
        check_agent(BadBatch(), ENV, episodes=1)
    with pytest.raises(AgentCheckError, match="has no act"):
        check_agent(object(), ENV)
    assert issubclass(AgentCheckError, Error)
