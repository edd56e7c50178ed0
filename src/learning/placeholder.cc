namespace rtml::learning {}
