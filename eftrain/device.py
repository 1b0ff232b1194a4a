class Device:  # replaced in this session
    pass
