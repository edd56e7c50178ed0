namespace rtml::decision {}
